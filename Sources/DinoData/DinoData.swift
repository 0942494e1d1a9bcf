// DinoData
