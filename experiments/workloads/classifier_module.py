# classifier_module.py
"""Document 002's "module-ref works" answer: the classifier lives in a module's private global.

As the document gives it: `init(spec)` builds the classifier through `_create_classifier`, whose
class is defined inside a function (so it cannot be pickled), and keeps it in the module's private
global `__classifier`; `classify(x)` uses it. Pool workers receive `classifier_module.classify`
(pickled by name: a few dozen bytes) and find `__classifier` in the module they inherited by fork.

The document's PoC classifier prints each record and returns it; here it is the common
document-002 classifier (_classifier.Classifier: a numpy array of --size bytes and a small dict),
and it does not print (memlab keeps the workload's stderr, 20,000 lines would drown it).
"""
import _classifier


def _create_classifier(spec):

    # obviously not pickle-able because it's inside a function
    class Classifier(_classifier.Classifier):

        def __init__(self, spec):
            super().__init__(spec)

        def classify(self, x):
            return super().classify(x)

    return Classifier(spec)


def init(spec):
    global __classifier
    __classifier = _create_classifier(spec)


def classify(x):
    return __classifier.classify(x)
