"""Chat commands, channel-agnostic: text -> ``Command`` -> a handler -> ``Reply``.

- ``command``: the values (``Command``, ``CommandError``).
- ``args``: the words after a command's name -> ``Command`` (pure; ``tokenize``, ``parse_time``).
- ``spec``: ``CommandSpec``, ``Registry`` (the derived views: head words, /help, menu) and the
  ``CommandContext`` a handler gets.
- ``registry``: ``REGISTRY``, the one table of the bot's commands.
- ``parse``: ``parse_command(text) -> Command | CommandError`` over the registry (pure).
- ``names``: fields and time zones found from what a person types.
- ``handlers/``: one small async handler per command, grouped by concern.
- ``core``: ``CommandCore``, which resolves the chat, checks permissions and dispatches.
"""
