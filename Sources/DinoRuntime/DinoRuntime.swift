// DinoRuntime
