// throws a string at load

throw "thrown at load"; //@throws
