"""Singer tap for LivePerson Conversational Cloud's Audit Trail."""
