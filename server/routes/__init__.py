"""The API's routers, one per area: the server itself (health, engines), jobs, and job media."""
