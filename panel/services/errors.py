"""Errors services raise for the caller to show: a clear message, nothing changed."""


class ServiceError(ValueError):
    """A request that cannot be carried out as asked; the message is for the user."""


class NotFound(LookupError):
    """The object does not exist or is not visible to the actor (the same, on purpose)."""
