"""The HTTP layer's parts below the routes: errors, safety checks, dependencies, connection limits."""
