"""The demo: its synthetic stream, timeline and mentions, and the embedded run."""
