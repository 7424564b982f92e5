"""The event consumers: what happens because an event happened. Each is idempotent
(events arrive at least once) and depends only on ports."""
