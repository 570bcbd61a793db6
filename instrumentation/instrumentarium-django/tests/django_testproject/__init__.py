"""A small Django project for the tests: the views and URL patterns the behaviours need."""
