"""One module per rule, named after the rule. The registry finds them; there is no list here."""
