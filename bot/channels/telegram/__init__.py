"""The Telegram channel: sending limits (limits), the sender over PTB's Bot (sender) and the
PTB Application with its thin command handlers (app)."""
