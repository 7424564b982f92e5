"""The notification channels: email over SMTP, Web Push, SMS over an HTTP provider, and
log twins of email and SMS for development (the default when none is configured)."""
