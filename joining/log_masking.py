"""A logging filter that hides join links' secrets: a URL path in a log line is no key to a room.

Django logs the path of every 4xx/5xx answer (django.request), of a refused CSRF check
(django.security.csrf) and, under runserver, of every request (django.server). Imported by the
logging configuration before the apps load, so it imports nothing of the portal.
"""

import logging
import re

# /join/<secret>/..., also percent-encoded (a `next=` parameter).
_JOIN_PATH = re.compile(r"(/join/|%2Fjoin%2F)(?!links/)[^/\s\"'?&%]+", re.IGNORECASE)
MASK = "[secret]"


def mask(text: str) -> str:
    return _JOIN_PATH.sub(rf"\g<1>{MASK}", text)


class MaskJoinSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                key: mask(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True
