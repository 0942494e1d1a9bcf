// DinoPlan
