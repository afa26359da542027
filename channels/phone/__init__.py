"""Phone channels: generic CTI events, Twilio voice callbacks and an Asterisk AMI client,
all turned into one call model (hub.calls)."""
