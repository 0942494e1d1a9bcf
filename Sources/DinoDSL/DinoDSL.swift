// DinoDSL
