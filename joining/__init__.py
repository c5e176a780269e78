"""Personal join links and the participants' join page: the way into a room's call."""
