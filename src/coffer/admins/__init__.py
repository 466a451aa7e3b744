"""Admin accounts, roles and permissions for the admin web."""
