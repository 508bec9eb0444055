{#-
  Each change with its object (object_id, the same across renames, and the object's name now)
  and its place in its object's history and in its property's: what came next, and the next
  deletion of the object as a whole after it. Everything is ordered by change_order, the one
  order of int_lp_audittrail__ordered_changes.
-#}

with changes as (

    select * from {{ ref('int_lp_audittrail__ordered_changes') }}

),

renamed as (

    select * from {{ ref('int_lp_audittrail__renamed_objects') }}

),

placed as (

    select
        changes.*,
        coalesce(
            renamed.object_id,
            {{ lp_audittrail_key(['changes.object_type', 'changes.object_name']) }}
        ) as object_id,
        case when renamed.change_id is null then changes.object_name
            else renamed.current_object_name end as current_object_name
    from changes
    left join renamed on renamed.change_id = changes.change_id

)

select
    placed.*,
    row_number() over (partition by object_id order by change_order) as object_change_number,
    lead(changed_at) over (partition by object_id order by change_order) as next_object_change_at,
    lead(change_order) over (partition by object_id order by change_order) is null
        as is_latest_object_change,
    -- the property's next change (for the changes of one property; null for the object's own)
    case when is_field_change then
        lead(change_order) over (partition by object_id, is_field_change, element order by change_order)
    end as next_property_change_order,
    case when is_field_change then
        lead(changed_at) over (partition by object_id, is_field_change, element order by change_order)
    end as next_property_change_at,
    case when is_field_change then
        lead(action) over (partition by object_id, is_field_change, element order by change_order)
    end as next_property_action,
    case when is_field_change then
        count(*) over (partition by object_id, is_field_change, element, changed_second)
    end as property_changes_in_second,
    -- the object's next deletion as a whole, after this change (the rows before it in the
    -- object's changes newest first: a descending order needs no NULLS clause in any dialect)
    min(case when is_object_deletion then change_order end) over (
        partition by object_id order by change_order desc
        rows between unbounded preceding and 1 preceding
    ) as next_object_deletion_order,
    min(case when is_object_deletion then changed_at end) over (
        partition by object_id order by change_order desc
        rows between unbounded preceding and 1 preceding
    ) as next_object_deletion_at,
    sum(case when is_object_deletion then 1 else 0 end) over (
        partition by object_id, changed_second
    ) as object_deletions_in_second
from placed
