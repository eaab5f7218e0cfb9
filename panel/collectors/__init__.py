"""Collectors: read facts from the servers on a hosting node (database sizes, ...).

Unlike the pure core (``panel.measure``) they talk to servers over the network; unlike the
services they own no database session. They never raise for a server that is down or
misbehaving: what could not be read comes back as "unknown" with the reason.
"""
