"""pagerstatus: keep an Atlassian Statuspage truthful by driving it from PagerDuty incidents."""
