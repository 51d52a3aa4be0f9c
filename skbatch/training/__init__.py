"""How one fit runs on skorch: the lean net, the batch iterator, modules, callbacks, optimizers and errors."""
