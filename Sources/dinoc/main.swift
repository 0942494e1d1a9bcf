print("dinoc")
