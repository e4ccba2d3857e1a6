import pytest

from gennape.core.registry import Registry


def test_registry_adds_gets_lists_and_refuses_a_second_item_under_one_name():
    r: Registry[int] = Registry("widget", sort=True)
    r.register("b")(2)
    r.add("a", 1)
    assert r.get("a") == 1 and r.names() == ["a", "b"] and "a" in r and len(r) == 2
    assert r.add("a", 1) == 1  # the same object again: fine (modules imported twice)
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        r.add("a", 3)
    with pytest.raises(KeyError, match="unknown widget 'c'; registered: a, b"):
        r.get("c")
    assert Registry("x").register("z")(5) == 5 and Registry("x").names() == []


def test_register_subclass_names_the_class_and_refuses_others() -> None:
    class Base:
        name = ""

    reg: Registry[type] = Registry("thing")

    @reg.register_subclass("a", Base)
    class A(Base):
        pass

    assert reg.get("a") is A and A.name == "a"
    with pytest.raises(TypeError, match="expects a Base subclass"):
        reg.register_subclass("b", Base)(int)
