"""Console screens: the three mode screens, pushed detail screens, and modal forms and pickers."""
