"""Channel adapters: each turns its wire format into `InboundContact`s for ingest.

The contract every adapter satisfies is `channels.base.ChannelAdapter`; the table of known
adapters is `channels.registry.ADAPTERS`.
"""
