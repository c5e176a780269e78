"""`make bench`: run every benchmark and print its table (see docs/benchmarks.md)."""

from benchmarks import emulator


def main() -> None:
    print("== ACS emulator: requests per second through the Rooms SDK ==")
    emulator.main([])


if __name__ == "__main__":
    main()
