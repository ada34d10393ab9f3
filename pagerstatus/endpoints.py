"""The public base URLs of the services pagerstatus calls, when not configured otherwise.

Facts about those services, kept below both the clients (their defaults) and config
(the settings' defaults and the region names it accepts), so config needs no client.
"""

PAGERDUTY_API_URL = "https://api.pagerduty.com"
# PagerDuty's service regions: an account lives in one and is served by its API only.
PAGERDUTY_REGION_URLS = {"us": PAGERDUTY_API_URL, "eu": "https://api.eu.pagerduty.com"}
STATUSPAGE_API_URL = "https://api.statuspage.io/v1"
# Google's public keys for the ID tokens Cloud Scheduler presents (pagerstatus.oidc).
GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
