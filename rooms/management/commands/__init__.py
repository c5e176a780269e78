"""The rooms app's manage.py commands: reconcile, import_participants."""
