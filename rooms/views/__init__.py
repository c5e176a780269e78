"""Room views, by page: browse (list, calendar), edit (the room form and its actions), detail."""
