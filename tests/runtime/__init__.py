"""Settings, the composition root's checks, the ack front, health, the install pins and the layout."""
