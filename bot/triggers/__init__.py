"""Offboarding that starts itself: Okta Event Hooks, signed HR webhooks and `offboard request`.

`signatures` and `events` import nothing of the bot (the ack front uses them); `intake` turns an event into
an offboarding request through the workflow; `endpoint` answers the HTTP routes; `rechecks` and `deadline`
hold the removal to its due time and show afterwards that it held.
"""
