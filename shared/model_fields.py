"""A model's fields by name, as the type they are.

`Model._meta.get_field` answers any field, relation or generic key; code that builds SQL
from column names, or reads a length limit, needs the concrete field (or the model a
foreign key points to), and says so once here.
"""

from django.db import models


def concrete_field(model: type[models.Model], name: str) -> models.Field:
    """The concrete field `name` of `model` (a column of its table); "pk" names the primary
    key, as in queries."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


def related_model(model: type[models.Model], name: str) -> type[models.Model]:
    """The model that the foreign key (or many-to-many field) `name` of `model` points to."""
    target = concrete_field(model, name).related_model
    if not isinstance(target, type):
        raise TypeError(f"{model.__name__}.{name} points to no model")
    return target
