from .selectors import observer_for_user


def observer(request):
    """The signed-in user's observer profile (or None) as ``observer`` in templates."""
    return {"observer": observer_for_user(getattr(request, "user", None))}
