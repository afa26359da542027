"""SMS channels: Twilio, Vonage and a generic signed-JSON gateway."""
