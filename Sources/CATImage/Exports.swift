@_exported import CATImageCore
@_exported import CATImageEncoder
