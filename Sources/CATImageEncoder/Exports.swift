@_exported import CATImageCore
