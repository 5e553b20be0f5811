"""One small async handler per command: ``(CommandContext, Chat, Command) -> Reply``.

Grouped by concern: ``info`` (start, help, latest, sources), ``topics`` (topics, subscribe,
unsubscribe and the topic buttons), ``alerts``, ``preferences`` (mode, digest, quiet, tz,
lang, stop) and ``admin`` (stats, health). ``bot.commands.registry`` wires them to names.
"""
