// DinoPasses
