import DinoIR
import DinoPasses
import XCTest
