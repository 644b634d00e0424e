"""Observers' reports (ceasefire violations, humanitarian convoys, checkpoint shifts).

Built by the Incident reporting issue; the app is installed from the start so that the
layout is fixed.
"""
