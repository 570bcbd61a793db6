"""``path()`` with converters, ``re_path``, a named empty path, an include, async views."""

from __future__ import annotations

from django.urls import include, path, re_path

from . import views

api = (
    [path("items/<int:uid>/", views.user, name="item")],
    "api",  # the application namespace: resolver_match.app_name
)

urlpatterns = [
    path("", views.home, name="home"),
    path("user/<int:uid>/", views.user, name="user"),
    re_path(r"^re/(?P<code>[a-z]+)/$", views.regex),
    path("created/", views.created),
    path("suppressed/", views.suppressed),
    path("boom/", views.boom),
    path("missing/", views.missing),
    path("mw-boom-in/", views.home),  # middleware.RaisingMiddleware raises before the view
    path("mw-boom-out/", views.home),  # ... and after it
    path("unavailable/", views.unavailable),
    path("current/", views.current_span),
    path("async/<int:uid>/", views.async_view),
    path("async-boom/", views.async_boom),
    path("stream/", views.stream),
    path("query/", views.query),
    path("api/", include(api)),
]
