"""Saves and deletions of registered objects, turned into bookrec's records and tasks.

Connected per registered model (``connect``, from the app's ``ready()`` and again whenever
``BOOKREC`` changes), never to every model: a ``post_delete`` receiver makes Django fetch the
rows of every bulk delete of its sender, which a site should pay only for its registered models.
What these signals cannot see (``QuerySet.update()``, ``bulk_create``, raw SQL) the sweep finds
(``bookrec.indexing.sweep``).
"""

from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save

from bookrec import indexing, tasks
from bookrec.registry import registered_models, registration_for

DISPATCH_UID = "bookrec:{signal}:{label}"
_connected = set()  # (signal, model)


def object_saved(sender, instance, raw=False, using="default", **kwargs):
    if raw:  # loaddata: the rows are not complete yet; the sweep picks them up
        return
    registration = registration_for(sender)
    pks = indexing.sync_objects(registration, [instance], using=using)
    tasks.queue_embedding_on_commit(registration, pks)


def object_deleted(sender, instance, using="default", **kwargs):
    indexing.forget_objects(registration_for(sender), [instance.pk], using=using)


RECEIVERS = [(post_save, object_saved), (post_delete, object_deleted)]


def connect():
    """Connect the receivers to every registered model, and disconnect them from models no
    longer registered."""
    wanted = set(registered_models())
    for signal, receiver in RECEIVERS:
        for model in {model for sig, model in _connected if sig is signal} - wanted:
            signal.disconnect(receiver, sender=model, dispatch_uid=DISPATCH_UID.format(signal=id(signal), label=model._meta.label))
            _connected.discard((signal, model))
        for model in wanted:
            signal.connect(receiver, sender=model, dispatch_uid=DISPATCH_UID.format(signal=id(signal), label=model._meta.label))
            _connected.add((signal, model))


def reconnect(*, setting, **kwargs):
    if setting == "BOOKREC":
        connect()


setting_changed.connect(reconnect)
