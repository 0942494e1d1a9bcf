print("dino-run")
