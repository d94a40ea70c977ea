"""Everything that faces Slack: the Bolt app, listeners by surface, HTTP-mode request guards,
payload parsing, the sender, delivery, after-ack work, and Block Kit views (messages, Home)."""
