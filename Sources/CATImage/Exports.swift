@_exported import CATImageCore
@_exported import CATImageEncoder
@_exported import CATImageTraining
