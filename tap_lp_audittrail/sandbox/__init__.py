"""A local stand-in for LivePerson's Audit Trail API and the services around it."""
