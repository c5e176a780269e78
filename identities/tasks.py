"""Background tasks for identities: thin wrappers that load by id and call the sync."""

from django.tasks import task

from identities.sync import push_identity


@task
def sync_identity(identity_id: int) -> str:
    return push_identity(identity_id)
