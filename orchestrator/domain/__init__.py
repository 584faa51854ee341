"""Pure domain model: no I/O, no clock reads; time is passed in."""
