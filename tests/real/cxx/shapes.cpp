// shapes.cpp - virtual functions with a key function, a factory that throws,
// and a template instantiated here and elsewhere.
#include "common.h"

#include <cmath>

static Tracer shapes_global("shapes.o global");
__attribute__((init_priority(250))) static Tracer shapes_early("shapes.o priority 250");

ShapeError::ShapeError(const std::string &msg) : std::logic_error("shape error: " + msg) {}
ShapeError::~ShapeError() {}

Shape::~Shape() {}
std::string Shape::describe() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s with area %.3f", name().c_str(), area());
    return buf;
}

namespace {
struct Circle : Shape {
    double r;
    explicit Circle(double r) : r(r) {}
    double area() const override { return M_PI * r * r; }
    std::string name() const override { return "circle"; }
};
struct Rect : Shape {
    double w, h;
    Rect(double w, double h) : w(w), h(h) {}
    double area() const override { return w * h; }
    std::string name() const override { return "rect"; }
    std::string describe() const override {
        return "rect " + std::to_string(int(w)) + "x" + std::to_string(int(h)) + " (" + Shape::describe() + ")";
    }
};
struct Triangle : Shape {
    double a, b, c;
    Triangle(double a, double b, double c) : a(a), b(b), c(c) {
        if (a + b <= c || a + c <= b || b + c <= a) throw ShapeError("impossible triangle");
    }
    double area() const override {
        double s = (a + b + c) / 2;
        return std::sqrt(s * (s - a) * (s - b) * (s - c));
    }
    std::string name() const override { return "triangle"; }
};
} // namespace

std::unique_ptr<Shape> make_shape(const std::string &spec) {
    registry().add("make_shape", 1);
    std::istringstream in(spec);
    std::string kind;
    in >> kind;
    std::vector<double> args;
    double d;
    while (in >> d) args.push_back(d);
    if (kind == "circle" && args.size() == 1) return std::make_unique<Circle>(args[0]);
    if (kind == "rect" && args.size() == 2) return std::make_unique<Rect>(args[0], args[1]);
    if (kind == "triangle" && args.size() == 3) return std::make_unique<Triangle>(args[0], args[1], args[2]);
    if (kind == "square" && args.size() == 1) return std::make_unique<Square>(args[0]);
    throw ShapeError("cannot make '" + spec + "'");
}

Stats<double> area_stats(const std::vector<std::unique_ptr<Shape>> &shapes) {
    Stats<double> st;
    for (const auto &s : shapes) st.add(std::round(s->area() * 1000) / 1000);
    return st;
}
